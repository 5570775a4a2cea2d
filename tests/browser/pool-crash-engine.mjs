// An engine Worker that crashes (an uncaught error) on its third task, for worker-pool.test.mjs:
// this listener runs before worker.mjs's own (modules run in import order) and stops the task.
let tasks = 0;
self.addEventListener('message', (event) => {
  if (event.data?.type !== 'task' || ++tasks !== 3) return;
  event.stopImmediatePropagation();
  throw new Error('engine crash staged by the test');
});

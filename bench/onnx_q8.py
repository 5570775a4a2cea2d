#!/usr/bin/python3
"""Rewrite a float32 ONNX graph into the "q8" graph the onnxruntime-web int8 peer runs in bench/.

Every MatMul whose second input is a constant 2-D weight (an initializer, a Constant node, or a
Transpose of either) becomes the dynamic-quantization pattern onnxruntime's quantize_dynamic
writes:

    A --DynamicQuantizeLinear--> A_u8, a_scale, a_zero_point
    MatMulInteger(A_u8, W_i8, a_zero_point)          int32; W's zero point left out (= 0)
    Cast(to float) * (a_scale * w_scale)             w_scale: one per column of W

W_i8 is symmetric per column: w_scale[n] = max_k |W[k, n]| / 127, W_i8 = round(W / w_scale)
in [-127, 127] (round half to even). A MatMul's input A is quantized once however many
MatMuls read it. Everything else stays float32: MatMuls of two activations (attention), Gemm,
Conv, Gather (the token table), the norms. Needs Debian's python3-onnx (/usr/bin/python3).

  onnx_q8.py IN.onnx OUT.onnx      prints what it rewrote and what it left float, and both sizes
"""
import argparse
import os
import sys
from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_weight(name, inits, producers):
    """The float32 value of `name` if it is a constant (initializer, Constant, Transpose of one)."""
    if name in inits:
        return numpy_helper.to_array(inits[name])
    node = producers.get(name)
    if node is None:
        return None
    if node.op_type == 'Constant':
        for a in node.attribute:
            if a.name == 'value':
                return numpy_helper.to_array(a.t)
        return None
    if node.op_type == 'Transpose':
        src = constant_weight(node.input[0], inits, producers)
        if src is None:
            return None
        perm = [a.ints for a in node.attribute if a.name == 'perm']
        return np.transpose(src, list(perm[0]) if perm else None)
    return None


def quantize_columns(w):
    """Symmetric int8 per column of a [K, N] float matrix: (int8 [K, N], float32 scale [N])."""
    amax = np.abs(w).max(axis=0)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def rewrite(model):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    stats = Counter()
    new_nodes, dql = [], {}  # dql: activation name -> (u8, scale, zero point) outputs
    new_inits = []
    for node in g.node:
        w = None
        if node.op_type == 'MatMul':
            w = constant_weight(node.input[1], inits, producers)
            if w is not None and (w.ndim != 2 or w.dtype != np.float32):
                stats['MatMul with a constant that is not a 2-D float32 matrix (left float)'] += 1
                w = None
        if w is None:
            if node.op_type in ('MatMul', 'Gemm', 'Conv', 'Gather'):
                stats['%s left float' % node.op_type] += 1
            new_nodes.append(node)
            continue
        stats['MatMul rewritten'] += 1
        base = node.name or node.output[0]
        a = node.input[0]
        if a not in dql:
            outs = ['%s_q8_u8' % a, '%s_q8_scale' % a, '%s_q8_zero_point' % a]
            new_nodes.append(helper.make_node('DynamicQuantizeLinear', [a], outs, name='%s_dql' % a))
            dql[a] = outs
        a_u8, a_scale, a_zp = dql[a]
        q, scale = quantize_columns(w)
        w_name, s_name = '%s_w_i8' % base, '%s_w_scale' % base
        new_inits += [numpy_helper.from_array(q, w_name), numpy_helper.from_array(scale, s_name)]
        stats['weight bytes float32'] += w.nbytes
        stats['weight bytes int8 + scales'] += q.nbytes + scale.nbytes
        y = node.output[0]
        new_nodes += [
            helper.make_node('MatMulInteger', [a_u8, w_name, a_zp], ['%s_i32' % base], name='%s_mmi' % base),
            helper.make_node('Cast', ['%s_i32' % base], ['%s_f32' % base], name='%s_cast' % base, to=TensorProto.FLOAT),
            helper.make_node('Mul', [a_scale, s_name], ['%s_q8_out_scale' % base], name='%s_scale_mul' % base),
            helper.make_node('Mul', ['%s_f32' % base, '%s_q8_out_scale' % base], [y], name='%s_mul' % base),
        ]
    # Drop what nothing reads any more (the float weights and the Transposes that fed them),
    # walking back from the graph outputs.
    needed = {o.name for o in g.output}
    kept = []
    for node in reversed(new_nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
            for a in node.attribute:  # subgraphs (none in our exports, but keep what they read)
                if a.g is not None:
                    for sub in a.g.node:
                        needed.update(sub.input)
    kept.reverse()
    stats['nodes dropped (unused)'] = len(new_nodes) - len(kept)
    del g.node[:]
    g.node.extend(kept)
    all_inits = [t for t in g.initializer if t.name in needed] + [t for t in new_inits if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(all_inits)
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('input')
    ap.add_argument('output')
    args = ap.parse_args()
    model = onnx.load(args.input)
    opset = max(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    if opset < 11:
        sys.exit('onnx_q8: %s has opset %d; DynamicQuantizeLinear needs 11 or later' % (args.input, opset))
    stats = rewrite(model)
    if not stats['MatMul rewritten']:
        sys.exit('onnx_q8: %s has no MatMul with a constant weight to rewrite' % args.input)
    onnx.save(model, args.output)
    onnx.checker.check_model(args.output)  # by path: no 2 GB protobuf limit on the check
    size_in, size_out = os.path.getsize(args.input), os.path.getsize(args.output)
    print('%s -> %s: %s; file %d -> %d bytes (%.1f %%)' % (
        os.path.basename(args.input), os.path.basename(args.output),
        ', '.join('%s %d' % kv for kv in sorted(stats.items())), size_in, size_out, 100.0 * size_out / size_in))


if __name__ == '__main__':
    main()

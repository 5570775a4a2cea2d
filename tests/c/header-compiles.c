/* The public header compiles as plain C11 on its own, and its basic entry points link. */
#include "clipdb.h"

#include <stdio.h>
#include <string.h>

int main(void) {
  if (strcmp(clipdb_status_string(CLIPDB_STATUS_BAD_MODEL), "BAD_MODEL") != 0) return 1;
  if (strcmp(clipdb_status_string(CLIPDB_STATUS_SUCCESS), "SUCCESS") != 0) return 1;
  if (clipdb_last_error() == NULL) return 1;
  printf("backend %s\n", clipdb_backend_name());
  return 0;
}

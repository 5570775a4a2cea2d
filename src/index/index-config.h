/* Kernel selection for the vector index: one table, filled once (see index-config.c). */
#ifndef CLIPDB_INDEX_CONFIG_H
#define CLIPDB_INDEX_CONFIG_H

#include "../kernels/f32-dot/f32-dot.h"
#include "../kernels/qs8-dot/qs8-dot.h"

typedef struct clipdb__index_config {
  clipdb_f32_dot_ukernel_fn dot; /* one query against many rows */
  const char *dot_name;          /* kernel name, for logs and tests */
  clipdb_qs8_dot_ukernel_fn qdot; /* int16 query against int8 codes (candidate search) */
  const char *qdot_name;
} clipdb__index_config;

/* The table for this build (never NULL). */
const clipdb__index_config *clipdb__index_get_config(void);

#endif

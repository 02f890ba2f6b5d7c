#ifndef BUREAU_CJEMALLOC_SHIM_H
#define BUREAU_CJEMALLOC_SHIM_H
#include <jemalloc/jemalloc.h>
#endif

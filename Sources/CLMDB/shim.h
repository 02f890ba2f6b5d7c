#ifndef BUREAU_CLMDB_SHIM_H
#define BUREAU_CLMDB_SHIM_H
#include <lmdb.h>
#endif

/*
 * p9_impl.h — private to the 9P codec: the public header plus the byte
 * cursors of src/base.
 */
#ifndef BOXFS_P9_IMPL_H
#define BOXFS_P9_IMPL_H

#include <boxfs/9p.h>

#include "base/cursor.h"

#endif

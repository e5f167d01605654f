/*
 * boxfs/common.h — what every public boxfs header shares.
 *
 * Conventions that hold for the whole public API:
 *   - status functions return 0 on success or a negative Linux errno;
 *   - byte counts are ssize_t: >= 0, or a negative Linux errno;
 *   - functions returning pointers return NULL and set errno on failure;
 *   - strings received from the wire are views (pointer + length) into the
 *     caller's buffer and are valid as long as that buffer is.
 */
#ifndef BOXFS_COMMON_H
#define BOXFS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define BOXFS_API __attribute__((visibility("default")))
#else
#define BOXFS_API
#endif

#define BOXFS_VERSION_MAJOR 0
#define BOXFS_VERSION_MINOR 1
#define BOXFS_VERSION_PATCH 0

#endif

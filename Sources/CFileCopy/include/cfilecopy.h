#ifndef CFILECOPY_H
#define CFILECOPY_H

#include <stdint.h>

/// Appends `length` bytes of `in` (from its offset 0) to `out` at its current position, inside the
/// kernel where it can (copy_file_range: no user-space read or write), else by read and write.
/// Returns 0, or an errno value.
int cfilecopy_append(int in, int out, int64_t length);

#endif

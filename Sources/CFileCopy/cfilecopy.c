// The emulator's Complete Multipart Upload joins part files into the object: in the kernel, so the
// bytes do not go through user space a second time (they were hashed when they were received).
#define _GNU_SOURCE
#include "cfilecopy.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int cfilecopy_append(int in, int out, int64_t length) {
    int64_t left = length;
    off_t from = 0;
#if defined(__linux__)
    while (left > 0) {
        ssize_t n = copy_file_range(in, &from, out, NULL, (size_t)(left > (1 << 30) ? (1 << 30) : left), 0);
        if (n > 0) {
            left -= n;
            continue;
        }
        if (n == 0) return EIO;  // the part is shorter than it was
        if (errno == EINTR) continue;
        if (errno == ENOSYS || errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP) break;  // fall back
        return errno;
    }
    if (left == 0) return 0;
#endif
    enum { chunk = 1 << 20 };
    char *buffer = malloc(chunk);
    if (!buffer) return ENOMEM;
    while (left > 0) {
        ssize_t n = pread(in, buffer, (size_t)(left > chunk ? chunk : left), from);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            free(buffer);
            return n == 0 ? EIO : errno;
        }
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = write(out, buffer + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                free(buffer);
                return w == 0 ? EIO : errno;
            }
            done += w;
        }
        from += n;
        left -= n;
    }
    free(buffer);
    return 0;
}

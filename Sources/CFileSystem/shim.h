// File-system calls Swift's Glibc module does not show: sync_file_range(2) (glibc declares it only under
// _GNU_SOURCE, which that module is not built with).
#include <sys/types.h>
int sync_file_range(int fd, __off64_t offset, __off64_t nbytes, unsigned int flags);

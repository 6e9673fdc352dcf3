// File-system calls Swift's Glibc module does not show: sync_file_range(2) and syncfs(2) (glibc declares them only
// under _GNU_SOURCE, which that module is not built with), and fstatfs(2) (<sys/vfs.h> is not in that module).
#include <sys/types.h>
#include <sys/vfs.h>
int sync_file_range(int fd, __off64_t offset, __off64_t nbytes, unsigned int flags);
int syncfs(int fd);

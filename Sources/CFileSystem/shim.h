// File-system calls and flags Swift's Glibc module does not show: sync_file_range(2) and syncfs(2) (glibc declares
// them only under _GNU_SOURCE, which that module is not built with), and fstatfs(2) (<sys/vfs.h> is not in it).
#include <sys/types.h>
#include <sys/vfs.h>
int sync_file_range(int fd, __off64_t offset, __off64_t nbytes, unsigned int flags);
int syncfs(int fd);

// O_DIRECT, which glibc's <fcntl.h> also shows only under _GNU_SOURCE: the kernel's value on the architectures
// SiteSync is built for; 0 elsewhere, which turns direct writes off.
#if defined(__x86_64__) || defined(__i386__)
#define SITESYNC_O_DIRECT 040000
#elif defined(__aarch64__)
#define SITESYNC_O_DIRECT 0200000
#else
#define SITESYNC_O_DIRECT 0
#endif

// renameat2(2), for RENAME_NOREPLACE: a rename into place that fails instead of replacing what another program put
// there after SiteSync looked (glibc declares it only under _GNU_SOURCE too).
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
#define SITESYNC_RENAME_NOREPLACE 1

// O_TMPFILE's own bit (glibc's O_TMPFILE, also under _GNU_SOURCE only, adds O_DIRECTORY to it): a file with no name
// yet, linked into place when complete. The same value on the architectures SiteSync is built for; 0 elsewhere,
// which keeps named temporary files.
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define SITESYNC_O_TMPFILE_BIT 020000000
#else
#define SITESYNC_O_TMPFILE_BIT 0
#endif

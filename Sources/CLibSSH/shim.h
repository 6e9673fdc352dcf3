// libssh (Debian: libssh-dev). Not libssh2: libssh2 < 1.11 signs RSA keys only with ssh-rsa (SHA-1), which
// OpenSSH >= 8.8 refuses.
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

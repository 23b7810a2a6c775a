#!/bin/sh
# check_os_calls.sh SRC_DIR - fail when a file under SRC_DIR (the library's
# src/) outside platform/ calls the OS directly or includes a system header
# beyond the C standard library's: every such call goes through
# platform/os.h (src/platform/README.md).  Run by CTest (os_calls).
set -u
src=${1:?usage: check_os_calls.sh SRC_DIR}
calls='\b(mmap|munmap|mprotect|madvise|fork|vfork|posix_spawnp?|exec[lv]p?e?|pipe2?|waitpid|wait|clock_gettime|gettimeofday|nanosleep|socket|bind|listen|accept4?|connect|send|recv|getsockopt|setsockopt|epoll_[a-z_]+|poll|select|getrandom|getentropy|dladdr|dlopen|dlsym|backtrace|open|openat|read|pread|write|pwrite|close|dup2?|fcntl|fsync|fstat|lstat|stat|rename|unlink|mkdir|getpid|geteuid|getuid|umask|fchmod|chmod|kill|sigaction|signal|pthread_[a-z_]+|sysconf)\('
# system headers that are not the C standard library's (and not a file
# format: elf.h; nor the sanitizer interface)
headers='#[[:space:]]*include[[:space:]]*<(unistd|fcntl|dlfcn|execinfo|pthread|poll|spawn|netdb)\.h>|#[[:space:]]*include[[:space:]]*<sys/'
bad=$(grep -rnE "$calls|$headers" "$src" --include='*.c' --include='*.h' |
      grep -v "^$src/platform/" |
      grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' |
      grep -vE '\.(read|write|close|open)\(|->(read|write|close|open)\(' )
if [ -n "$bad" ]; then
  echo "OS calls or system headers outside src/platform/ (use platform/os.h):"
  echo "$bad"
  exit 1
fi
echo "no OS call outside src/platform/"

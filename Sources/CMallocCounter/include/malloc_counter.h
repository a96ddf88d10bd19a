// Counts allocation calls of the whole process, for clusterkit-hotpaths (the hot-path
// regression check). Linking this target into an executable replaces malloc, calloc,
// realloc, posix_memalign, aligned_alloc and memalign with counting wrappers around glibc's
// own allocator (__libc_*), so every library's allocations are counted. Link it into that
// one executable only.
#ifndef CLUSTERKIT_MALLOC_COUNTER_H
#define CLUSTERKIT_MALLOC_COUNTER_H

/// Allocation calls so far (all threads).
unsigned long long ck_allocation_count(void);
#endif

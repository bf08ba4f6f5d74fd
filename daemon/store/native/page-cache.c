/*
 * Page-cache advice for the block daemon's segment files, as a Node-API
 * addon (no dependency beyond libc and Node's own headers; compiled by
 * scripts/build.sh with the system's C compiler).
 *
 *   dropPages(fd, offset, length) -> 0 or an errno
 *     posix_fadvise(POSIX_FADV_DONTNEED): the kernel drops the range's clean
 *     pages from its cache (called only on ranges already fdatasync'd).
 *   readRandom(fd) -> 0 or an errno
 *     posix_fadvise(POSIX_FADV_RANDOM) on the whole file: reads through this
 *     open file read only what they ask for (no readahead).
 *   residentPages(fd, offset, length) -> pages of the range in memory
 *     mmap + mincore, for tests and status; -1 on error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <node_api.h>

static int args3(napi_env env, napi_callback_info info, int64_t out[3]) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) {
    napi_throw_type_error(env, NULL, "expected (fd, offset, length)");
    return 0;
  }
  for (int i = 0; i < 3; i++) {
    if (napi_get_value_int64(env, argv[i], &out[i]) != napi_ok || out[i] < 0) {
      napi_throw_type_error(env, NULL, "fd, offset and length are non-negative integers");
      return 0;
    }
  }
  return 1;
}

static napi_value number(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

static napi_value drop_pages(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (!args3(env, info, a)) return NULL;
  return number(env, posix_fadvise((int)a[0], (off_t)a[1], (off_t)a[2], POSIX_FADV_DONTNEED));
}

static napi_value read_random(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int64(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "expected (fd)");
    return NULL;
  }
  return number(env, posix_fadvise((int)fd, 0, 0, POSIX_FADV_RANDOM));
}

static napi_value resident_pages(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (!args3(env, info, a)) return NULL;
  if (a[2] == 0) return number(env, 0);
  long page = sysconf(_SC_PAGESIZE);
  off_t start = (off_t)(a[1] / page * page);
  size_t len = (size_t)(a[1] + a[2] - start);
  void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, (int)a[0], start);
  if (map == MAP_FAILED) return number(env, -1);
  size_t pages = (len + page - 1) / page;
  unsigned char *vec = malloc(pages);
  int64_t n = -1;
  if (vec && mincore(map, len, vec) == 0) {
    n = 0;
    for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
  }
  free(vec);
  munmap(map, len);
  return number(env, n);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "dropPages", NULL, drop_pages, NULL, NULL, NULL, napi_default, NULL },
    { "readRandom", NULL, read_random, NULL, NULL, NULL, napi_default, NULL },
    { "residentPages", NULL, resident_pages, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, 3, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

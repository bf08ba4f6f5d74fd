/**
 * Page-cache advice for segment files, through a small Node-API addon
 * (daemon/store/native/page-cache.c, compiled into build/native by
 * scripts/build.sh with the system's C compiler). Where it is not built the
 * daemon runs as before and says so once at start (`available` is false).
 *
 * Why: a body the daemon has written and fdatasync'd stays in the kernel's
 * page cache until memory pressure evicts it, so a write-heavy daemon grows
 * its host's cache by every byte it stores, crowding out what is read, and
 * on a host whose memory has not been touched since boot (a fresh virtual
 * machine) each new page costs the writer about 2.5 ms of kernel CPU per
 * MiB against 0.2 for a recycled one (docs/performance.md, eighth round).
 * Dropping the durable bytes that fall out of a bounded window of recent
 * writes keeps recent bodies readable from memory and recycles the rest.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lib/root';

interface Addon {
  dropPages(fd: number, offset: number, length: number): number;
  readRandom(fd: number): number;
  residentPages(fd: number, offset: number, length: number): number;
}

/** The page size the ranges are rounded to (x86-64's and most arm64 kernels'). */
export const PAGE = 4096;

export const ADDON_PATH = join(ROOT, 'build', 'native', 'page_cache.node');

function load(): Addon | undefined {
  if (process.platform !== 'linux' || !existsSync(ADDON_PATH)) return undefined;
  try {
    return require(ADDON_PATH) as Addon;
  } catch {
    return undefined;
  }
}

const addon = load();

export const pageCache = {
  /** Whether the addon is loaded (without it, drop() does nothing and resident() is undefined). */
  available: addon !== undefined,
  /**
   * Asks the kernel to drop a range's clean pages; returns 0 or an errno (0
   * when unavailable). The kernel drops only whole pages inside the range, so
   * the start is taken down to its page: a page shared with the bytes before
   * (older ones, in a log written in order) goes too, rather than staying
   * forever at every range's edge. Dirty pages are never dropped.
   */
  drop(fd: number, offset: number, length: number): number {
    const start = offset - (offset % PAGE);
    return addon ? addon.dropPages(fd, start, length + (offset - start)) : 0;
  },
  /** Turns readahead off for reads through this open file (0 or an errno; 0 when unavailable). */
  readRandom(fd: number): number {
    return addon ? addon.readRandom(fd) : 0;
  },
  /** Pages of the range now in memory (tests, status); undefined without the addon or on error. */
  resident(fd: number, offset: number, length: number): number | undefined {
    if (!addon) return undefined;
    const n = addon.residentPages(fd, offset, length);
    return n < 0 ? undefined : n;
  },
};

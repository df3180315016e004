//! Process-wide memory settings of the `worker-executor` (and of the
//! benchmarks, so they measure what the binary runs).
//!
//! Transparent huge pages are turned off for the process. The executor's
//! memory churns: a stream's request, a call's values and an oplog batch
//! are allocated and freed again and again, and the allocator returns freed
//! pages to the kernel after a delay. With huge pages, touching such memory
//! again makes the kernel zero a whole 2 MiB page in the page fault, where
//! a 4 KiB page would do. In `perf` profiles of the streaming benchmark this
//! zeroing (`clear_page_erms` under `do_huge_pmd_anonymous_page`) was 13 %
//! of all samples; with huge pages off a durable worker read 1 KiB frames
//! about 25 % faster (docs/performance-history.md, "Transparent huge pages off").

use std::io;

/// Turns transparent huge pages off for this process and the threads and
/// processes it starts from now on (`prctl(PR_SET_THP_DISABLE)`, Linux).
/// Pages faulted in before the call keep their size. On other systems this
/// does nothing.
pub fn disable_transparent_huge_pages() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::thread::disable_transparent_huge_pages(true).map_err(io::Error::from)?;
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_process_reports_huge_pages_off() {
        disable_transparent_huge_pages().expect("prctl");
        assert!(
            rustix::thread::transparent_huge_pages_are_disabled().expect("prctl"),
            "PR_GET_THP_DISABLE reports huge pages on after disabling them"
        );
    }
}

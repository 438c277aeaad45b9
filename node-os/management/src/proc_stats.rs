//! The machine's and the processes' figures from `/proc`: pure parsers over the files' text
//! (unit-tested on samples), and small readers over them. A file that is missing or does not
//! parse answers `None`: a metric left out, never an error that stops a report.

/// Memory figures from `/proc/meminfo`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    pub total_kib: u64,
    pub available_kib: u64,
}

/// The value in KiB of line `key:` of a `/proc` key-value file (`VmRSS:    1234 kB`).
fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") | None => Some(value),
            Some(_) => None,
        }
    })
}

/// A process's resident set in KiB from its `/proc/PID/status` (`VmRSS`); `None` for a kernel
/// thread or a zombie, which have none.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    kib_field(status, "VmRSS")
}

/// `MemTotal` and `MemAvailable` from `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<MemInfo> {
    Some(MemInfo { total_kib: kib_field(text, "MemTotal")?, available_kib: kib_field(text, "MemAvailable")? })
}

/// The one-minute load average from `/proc/loadavg` (`0.52 0.58 0.59 1/467 12345`).
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Process `pid`'s resident set in KiB, if it runs and has one.
pub fn process_rss_kib(pid: u32) -> Option<u64> {
    parse_vm_rss_kib(&read(&format!("/proc/{pid}/status"))?)
}

/// This process's resident set in KiB.
pub fn self_rss_kib() -> Option<u64> {
    parse_vm_rss_kib(&read("/proc/self/status")?)
}

/// The machine's memory.
pub fn meminfo() -> Option<MemInfo> {
    parse_meminfo(&read("/proc/meminfo")?)
}

/// The machine's one-minute load average.
pub fn load_1m() -> Option<f64> {
    parse_loadavg(&read("/proc/loadavg")?)
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> Option<String> {
    let text = read("/proc/sys/kernel/osrelease")?;
    let release = text.trim();
    (!release.is_empty()).then(|| release.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tqp-node\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t   12345 kB\n\
                          VmRSS:\t    4321 kB\nRssAnon:\t    1000 kB\nThreads:\t3\n";
    const MEMINFO: &str = "MemTotal:        2030000 kB\nMemFree:          100000 kB\n\
                           MemAvailable:     1500000 kB\nBuffers:           10000 kB\n";

    #[test]
    fn vm_rss_is_read_from_a_status_file() {
        assert_eq!(parse_vm_rss_kib(STATUS), Some(4321));
        // A kernel thread's status has no VmRSS; a similar key is not it.
        assert_eq!(parse_vm_rss_kib("Name:\tkworker/0:1\nVmRSSx:\t1 kB\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\tmany kB\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_vm_rss_kib(""), None);
    }

    #[test]
    fn meminfo_needs_total_and_available() {
        assert_eq!(parse_meminfo(MEMINFO), Some(MemInfo { total_kib: 2_030_000, available_kib: 1_500_000 }));
        assert_eq!(parse_meminfo("MemTotal: 10 kB\nMemFree: 5 kB\n"), None);
    }

    #[test]
    fn loadavg_is_its_first_figure() {
        assert_eq!(parse_loadavg("0.52 0.58 0.59 1/467 12345\n"), Some(0.52));
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("nan 1 1"), None);
        assert_eq!(parse_loadavg("-1 1 1"), None);
    }

    #[test]
    fn this_process_and_machine_read_back() {
        let rss = self_rss_kib().unwrap_or(0);
        assert!(rss > 0, "a running test has a resident set");
        assert_eq!(process_rss_kib(std::process::id()).map(|r| r > 0), Some(true));
        let mem = meminfo().unwrap_or(MemInfo { total_kib: 0, available_kib: 0 });
        assert!(mem.total_kib >= mem.available_kib && mem.total_kib > 0);
        assert!(load_1m().is_some());
        assert!(kernel_release().is_some_and(|r| !r.contains('\n')));
        // No such process.
        assert_eq!(process_rss_kib(u32::MAX), None);
    }
}

//! Measurements for the benchmarks: peak memory of this process.

/// Peak resident set size of this process in KiB (Linux `VmHWM`), if the platform tells.
pub fn peak_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size in MiB, for printing.
pub fn peak_mib() -> Option<f64> {
    peak_kib().map(|k| k as f64 / 1024.0)
}

/// Reset the peak to the current resident size (Linux ≥ 4.0: writing 5 to `clear_refs`), so that
/// successive measurements in one process each report their own peak. Returns whether it worked.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

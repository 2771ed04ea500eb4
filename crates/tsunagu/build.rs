//! Link settings of the `tsunagu` binary.
//!
//! On glibc ≥ 2.36 the binary is linked with packed relative relocations (`DT_RELR`). The
//! binary holds about 5 MB of ordinary relocation entries (vtables and static tables of the
//! libraries it links), which the loader reads at every start: each run then began ~5 MiB
//! larger than it had to, a tenth of what linking 100,000 records needs. Packed, they take
//! 64 KB. Older glibc cannot load such a binary, so the flag is only given when the C library
//! of the machine that builds is new enough and the build is not a cross-build; set
//! `TSUNAGU_NO_RELR=1` to leave it out.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=TSUNAGU_NO_RELR");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    if var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && native
        && std::env::var_os("TSUNAGU_NO_RELR").is_none()
        && glibc_at_least(2, 36)
    {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc (as `getconf GNU_LIBC_VERSION` reports it) is at least
/// `major.minor`; false when that cannot be told.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // "glibc 2.36"
    let Some(v) = text.split_whitespace().nth(1) else {
        return false;
    };
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

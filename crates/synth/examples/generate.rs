//! Use the generator as a library: `cargo run -p tsunagu-synth --example generate -- OUT [PERSONS] [SEED] [FORMATS]`.
//! The command-line tool is `tsunagu synth`; this example shows the API it calls.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: generate OUT [PERSONS] [SEED] [FORMATS]");
        return ExitCode::from(2);
    };
    let persons = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut cfg = tsunagu_synth::Config::new(persons, seed);
    if let Some(f) = args.get(3) {
        match f.split(',').map(tsunagu_synth::Format::parse).collect() {
            Ok(v) => cfg.formats = v,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let t = std::time::Instant::now();
    match tsunagu_synth::generate(&cfg, std::path::Path::new(out), &mut |_, _| {}) {
        Ok(s) => {
            println!("{s:?} in {:.2} s", t.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

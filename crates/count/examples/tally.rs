//! `cargo run -p securevote-count --example tally -- METHOD FILE [json|text] [SEATS] [SEED]`:
//! the library's CLI path without the service (the service's `securevote tally` is the real CLI).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(method), Some(file)) = (args.first(), args.get(1)) else {
        eprintln!("usage: tally METHOD FILE [json|text] [SEATS] [SEED]");
        std::process::exit(2);
    };
    let format = match args.get(2).map(String::as_str).unwrap_or("text").parse() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let seats = args.get(3).and_then(|s| s.parse().ok());
    let seed = args.get(4).map(String::as_str);
    let contents = match std::fs::read_to_string(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{file}: {e}");
            std::process::exit(2);
        }
    };
    match securevote_count::tally(method, seats, format, seed, file, &contents) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

use clap::Parser;

fn main() {
    let cli = blockspin::cli::Cli::parse();
    if let Err(e) = blockspin::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

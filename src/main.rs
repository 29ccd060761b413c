use clap::Parser;
use clap::error::ErrorKind;

fn main() {
    // Mesa's Vulkan device-select layer only reorders adapters (blockspin ranks them
    // itself) and prints "XDG_RUNTIME_DIR is invalid" on headless machines; turn it off
    // unless the user set it. Done first, while the process has one thread.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: no other thread exists yet, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
    let cli = match blockspin::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            // One line: the message and what it names, without the usage block.
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect();
            eprintln!("{} (see help)", line.join(" "));
            std::process::exit(2);
        }
    };
    match blockspin::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line, also for multi-line messages passed on from wgpu or the OS.
            eprintln!("error: {}", blockspin::cli::describe(&e));
            std::process::exit(e.exit_code());
        }
    }
}

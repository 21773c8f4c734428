//! `scimd completions SHELL` and `scimd man`: generated from the clap
//! definitions `main` passes in, so they can never drift from the real flags.
//! Both print to stdout; packaging writes them into the .deb.

use std::io::Write;

pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell) -> Result<(), String> {
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    write_stdout(&out)
}

/// The man page in roff: synopsis, global options and the list of
/// subcommands (each one's flags are in `scimd SUBCOMMAND --help`).
pub fn man(cmd: clap::Command) -> Result<(), String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| e.to_string())?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

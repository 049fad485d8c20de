//! `cwmp`: one binary for the ACS, the CPE agent, the simulator and the tools.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cwmp", version, about = "CWMP (TR-069) ACS, CPE agent and simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tools for CWMP SOAP messages.
    #[command(subcommand)]
    Wire(WireCommand),
}

#[derive(Subcommand)]
enum WireCommand {
    /// Decode a captured SOAP body (file or `-` for standard input) and print what it holds,
    /// or say exactly where it is invalid.
    Decode {
        file: PathBuf,
        /// Accept strings longer than Annex A allows.
        #[arg(long)]
        lenient_lengths: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Wire(WireCommand::Decode { file, lenient_lengths }) => wire_decode(&file, lenient_lengths),
    }
}

fn wire_decode(file: &std::path::Path, lenient_lengths: bool) -> anyhow::Result<()> {
    let body = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    let limits = cwmp_wire::Limits { enforce_string_lengths: !lenient_lengths, ..Default::default() };
    let envelopes = cwmp_wire::decode_all(&body, &limits).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    for envelope in envelopes {
        println!("version {} ({})", envelope.detected_version(), envelope.namespace.uri());
        println!("{:#?}", envelope.header);
        println!("{:#?}", envelope.message);
    }
    Ok(())
}

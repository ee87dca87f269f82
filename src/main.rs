//! The `asset-exchange` binary: parses the command line and hands over to the library.

use clap::Parser;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = asset_exchange::cli::Cli::parse();
    asset_exchange::cli::run(cli).await
}

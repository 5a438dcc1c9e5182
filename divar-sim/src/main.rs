use clap::Parser;
use divar_sim::{start, Config};

#[tokio::main]
async fn main() {
    let config = Config::parse();
    let running = match start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("divar-sim: {e}");
            std::process::exit(1);
        }
    };
    println!("divar-sim listening on {}", running.base_url);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = running.task => {}
    }
}

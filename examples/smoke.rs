use netrig::{Endpoint, Lab, Route};
fn main() -> netrig::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let t = std::time::Instant::now();
    let lab = Lab::builder("smoke")
        .node("a")
        .node("b")
        .node("h")
        .bridge("h", "br0", ["10.1.0.1/24"])
        .link(
            Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
            Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
        )
        .link(
            Endpoint::new("h", "va").bridge("br0"),
            Endpoint::new("a", "eth1").addr("10.1.0.2/24"),
        )
        .route("b", Route::default_via("10.0.0.1"))
        .up()?;
    println!("up in {:?}", t.elapsed());
    for n in ["a", "b", "h"] {
        let out = lab
            .node(n)?
            .command("ip")
            .args(["-d", "-br", "link"])
            .checked_output()?;
        println!("{n}:\n{}", String::from_utf8_lossy(&out.stdout));
        let out = lab
            .node(n)?
            .command("ip")
            .args(["neigh"])
            .checked_output()?;
        println!("{}", String::from_utf8_lossy(&out.stdout));
        let out = lab
            .node(n)?
            .command("ip")
            .args(["route"])
            .checked_output()?;
        println!("{}", String::from_utf8_lossy(&out.stdout));
    }
    let out = lab
        .node("a")?
        .command("ping")
        .args(["-c1", "-W1", "10.1.0.1"])
        .output()?;
    println!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

//! Many labs at once: K one-container Docker hosts (classic, iptables-nft)
//! brought up concurrently, one thread each as the catalogue's runner does,
//! then dropped concurrently; total wall against K × one lab alone.

use std::time::{Duration, Instant};

use crate::witness::Witness;
use netrig::docker::Layout;
use netrig::{Backend, LabSpec};

use super::{HOST_NODE, docker_host, median, ms};

/// Wall time for `k` labs up (all of them) plus down (all of them); one
/// witness per lab sees its namespaces go.
fn once(k: usize, layout: Layout, backend: Backend, witnesses: &mut [Witness]) -> Duration {
    let hosts: Vec<_> = (0..k)
        .map(|i| docker_host(&format!("par{i}"), layout, backend, 1))
        .collect();
    let barrier = std::sync::Barrier::new(k + 1);
    let (labs, up) = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    LabSpec::from(h.clone()).up().expect("docker up")
                })
            })
            .collect();
        barrier.wait();
        let t = Instant::now();
        let labs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (labs, t.elapsed())
    });
    for (lab, witness) in labs.iter().zip(witnesses.iter()) {
        witness
            .attach(&lab.node(HOST_NODE).unwrap(), "tow", "wit")
            .expect("witness link");
    }
    let t = Instant::now();
    std::thread::scope(|s| {
        for lab in labs {
            s.spawn(move || drop(lab));
        }
    });
    let down = t.elapsed();
    for witness in &mut witnesses[..k] {
        assert!(
            witness.wait_link_removed("wit", Duration::from_secs(30)),
            "witness link never removed"
        );
    }
    up + down
}

/// Prints the scaling table for each K in `ks`.
pub fn report(ks: &[usize], reps: usize) {
    let most = ks.iter().copied().max().unwrap_or(1);
    let mut witnesses: Vec<Witness> = (0..most)
        .map(|_| Witness::new().expect("witness namespace"))
        .collect();
    let witness = &mut witnesses[..];
    let (layout, backend) = (Layout::Classic, Backend::IptablesNft);
    println!(
        "\nmany labs at once: K one-container hosts ({layout} / {backend}) up + down concurrently on {} cores, median of {reps}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>4} {:>10} {:>12} {:>14} {:>10}",
        "K", "wall ms", "ms per lab", "K x one (ms)", "speed-up"
    );
    let mut one = None;
    for &k in ks {
        let t = ms(median(
            (0..reps)
                .map(|_| once(k, layout, backend, witness))
                .collect(),
        ));
        let single = *one.get_or_insert_with(|| {
            if k == 1 {
                t
            } else {
                ms(median(
                    (0..reps)
                        .map(|_| once(1, layout, backend, witness))
                        .collect(),
                ))
            }
        });
        println!(
            "{k:>4} {t:>10.2} {:>12.2} {:>14.2} {:>9.2}x",
            t / k as f64,
            single * k as f64,
            single * k as f64 / t
        );
    }
}

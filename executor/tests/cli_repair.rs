//! `worker-executor repair`: a data directory sled refuses to open (its
//! settings file damaged) is salvaged into a fresh one that serves every
//! worker with every acknowledged invocation; the damaged one is only read.

mod cli_common;

use std::process::Command;

use cli_common::{BIN, REFUSAL_LIMIT, Serve, output_within};

#[test]
fn a_damaged_store_is_repaired_into_a_fresh_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = Serve::start(dir.path());
    let component = serve.add_wasm(reprise_test_components::COUNTER);
    for (name, adds) in [("a", 3), ("b", 7)] {
        serve.create_worker(&component, name);
        for _ in 0..adds {
            serve.ok(&["invoke", name, "add", "2"]);
        }
    }
    serve.terminate();

    // One flipped bit in sled's settings file: the executor refuses to
    // start, naming the folder and the way out.
    let conf = data.join("oplog").join("conf");
    let mut bytes = std::fs::read(&conf).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&conf, &bytes).unwrap();
    let refused = output_within(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data),
        REFUSAL_LIMIT,
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("is damaged") && err.contains("worker-executor repair"),
        "{err}"
    );

    let out = dir.path().join("repaired");
    let repaired = Command::new(BIN)
        .args(["repair", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&repaired.stdout);
    assert!(
        repaired.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    for worker in ["a", "b"] {
        assert!(
            stdout.contains(&format!("worker {worker}: kept entries 1..="))
                && stdout.contains("every committed entry kept"),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("settings file `conf` was written anew"),
        "{stdout}"
    );
    assert!(
        stdout.contains("summary: 2 worker(s), 0 lost committed entries (none); 1 component(s) copied, 0 damaged"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(&conf).unwrap(),
        bytes,
        "the damaged folder is only read"
    );

    // A second run refuses to overwrite what the first wrote.
    let again = Command::new(BIN)
        .args(["repair", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

    // The repaired directory serves both workers with every invocation.
    std::fs::rename(&data, dir.path().join("damaged")).unwrap();
    std::fs::rename(&out, &data).unwrap();
    let serve = Serve::start(dir.path());
    assert_eq!(serve.ok(&["invoke", "a", "get"]).trim(), "6");
    assert_eq!(serve.ok(&["invoke", "b", "get"]).trim(), "14");
    assert_eq!(serve.ok(&["invoke", "b", "add", "1"]).trim(), "15");
    serve.terminate();
}

fn repair(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = Command::new(BIN).arg("repair").args(args).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn repair_refuses_a_live_store_and_paths_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = Serve::start(dir.path());
    serve.add_wasm(reprise_test_components::COUNTER);
    let flag = |s: &'static str| std::ffi::OsStr::new(s);

    // The executor is running: its store is locked.
    let out = dir.path().join("copy");
    let (ok, err) = repair(&[
        flag("--data-dir"),
        data.as_os_str(),
        flag("--out"),
        out.as_os_str(),
    ]);
    assert!(
        !ok && err.contains("is in use") && err.contains("stop it"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    serve.terminate();

    // An --out inside the data directory, which repair only reads.
    let inside = data.join("fixed");
    let (ok, err) = repair(&[
        flag("--data-dir"),
        data.as_os_str(),
        flag("--out"),
        inside.as_os_str(),
    ]);
    assert!(!ok && err.contains("is inside the data directory"), "{err}");
    // An --out that is a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (ok, err) = repair(&[
        flag("--data-dir"),
        data.as_os_str(),
        flag("--out"),
        file.as_os_str(),
    ]);
    assert!(
        !ok && err.contains("is not a directory") && err.contains("a-file"),
        "{err}"
    );
    // A data directory that is a file, or not a data directory.
    let (ok, err) = repair(&[flag("--data-dir"), file.as_os_str()]);
    assert!(!ok && err.contains("is not a directory"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, err) = repair(&[flag("--data-dir"), empty.as_os_str()]);
    assert!(
        !ok && err.contains("is not a Reprise data directory"),
        "{err}"
    );

    // Stopped, the same repair goes ahead.
    let (ok, err) = repair(&[
        flag("--data-dir"),
        data.as_os_str(),
        flag("--out"),
        out.as_os_str(),
    ]);
    assert!(ok, "{err}");

    // `--data-dir .` from inside it: the default --out is the sibling named
    // after the folder (it was `./reprise-data-repaired`, refused as inside
    // the data directory).
    let output = Command::new(BIN)
        .args(["repair", "--data-dir", "."])
        .current_dir(&data)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("data-repaired").is_dir());
}

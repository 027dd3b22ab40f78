//! The VM cache under concurrent use: two processes preparing at once both succeed and leave
//! exactly one complete initramfs, no temporaries. Reuses the machine's unpacked kernel (the
//! real cache, prepared first) so that only the initramfs is built, not downloaded.
#![allow(clippy::unwrap_used)]

use ssinet_testbed::vm;
use std::process::Command;

#[test]
fn two_processes_preparing_at_once_both_get_one_complete_cache() {
    let real = vm::prepare().unwrap();
    let version = &real.kernel_version;
    let real_dir = real.initramfs.parent().unwrap();

    let cache = tempfile::tempdir().unwrap();
    let kernel_dir = cache.path().join("kernels").join(version);
    std::fs::create_dir_all(&kernel_dir).unwrap();
    std::os::unix::fs::symlink(real_dir.join("root"), kernel_dir.join("root")).unwrap();
    if real.kernel.file_name() == Some("vmlinux".as_ref()) {
        std::os::unix::fs::symlink(&real.kernel, kernel_dir.join("vmlinux")).unwrap();
    }

    let prepare = || {
        Command::new(env!("CARGO_BIN_EXE_ssinet-lab"))
            .arg("vm-prepare")
            .env(vm::CACHE_ENV, cache.path())
            .env(vm::KERNEL_ENV, version)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap()
    };
    let (mut first, mut second) = (prepare(), prepare());
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());

    let names: Vec<String> = std::fs::read_dir(&kernel_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let images: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("initramfs-"))
        .collect();
    assert_eq!(images.len(), 1, "{names:?}");
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
    let built = std::fs::read(kernel_dir.join(images[0])).unwrap();
    assert_eq!(
        built,
        std::fs::read(&real.initramfs).unwrap(),
        "same inputs, same image"
    );
    let remembered = std::fs::read_to_string(cache.path().join("current-kernel")).unwrap();
    assert_eq!(remembered.trim(), version);
}

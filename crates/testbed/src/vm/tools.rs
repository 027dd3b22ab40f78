//! Running the host tools the VM needs (apt, dpkg, depmod, decompressors, gzip).
use super::error::{Result, VmError};
use std::io::Write;
use std::process::{Command, Stdio};

/// Renders a command for error messages: program and arguments, space separated.
pub(crate) fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `command` to completion and returns its stdout; a non-zero exit is an error carrying
/// the tail of its stderr, so the user sees why apt or dpkg refused.
pub(crate) fn output(command: &mut Command) -> Result<Vec<u8>> {
    command.stdin(Stdio::null());
    let rendered = describe(command);
    tracing::debug!(command = %rendered, "running host tool");
    let out = command.output().map_err(|source| VmError::Spawn {
        command: rendered.clone(),
        source,
    })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(VmError::Tool {
            command: rendered,
            status: out.status.to_string(),
            stderr: tail(&out.stderr, 2000),
        })
    }
}

/// Runs `program args...` with `input` on stdin and returns its stdout (decompressors, gzip).
pub(crate) fn filter(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    let mut command = Command::new(program);
    command.args(args);
    let rendered = describe(&command);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| VmError::Spawn {
            command: rendered.clone(),
            source,
        })?;
    let mut stdin = child.stdin.take().expect("stdin was configured as a pipe");
    // Feed stdin from a thread: the filter's output can exceed the pipe buffer before it has
    // read all of its input.
    let (fed, out) = std::thread::scope(|scope| {
        let feeder = scope.spawn(move || stdin.write_all(input));
        let out = child.wait_with_output();
        (feeder.join(), out)
    });
    let out = out.map_err(|source| VmError::Spawn {
        command: rendered.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(VmError::Tool {
            command: rendered,
            status: out.status.to_string(),
            stderr: tail(&out.stderr, 2000),
        });
    }
    match fed {
        Ok(Ok(())) => Ok(out.stdout),
        // A tool that succeeded without reading all input (xz --single-stream) is fine.
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(out.stdout),
        Ok(Err(source)) => Err(VmError::Spawn {
            command: rendered,
            source,
        }),
        Err(_) => Err(VmError::Tool {
            command: rendered,
            status: "input thread panicked".into(),
            stderr: String::new(),
        }),
    }
}

/// The last `max` bytes of `bytes` as trimmed, lossy UTF-8.
pub(crate) fn tail(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).trim().to_owned()
}

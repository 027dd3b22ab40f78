//! The ELF `vmlinux` inside a bzImage. qemu boots an ELF kernel through its PVH entry point in
//! about half the time of the bzImage's real-mode path (2.5 s instead of 5.5 s under TCG).
use super::error::{Result, VmError};
use super::tools;
use std::path::Path;

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the PVH entry point note qemu looks for in an ELF kernel.
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const PT_NOTE: u32 = 4;

/// Extracts the kernel ELF from the bzImage at `path`. Errors say why the image is unusable;
/// callers fall back to booting the bzImage itself.
pub fn extract_vmlinux(path: &Path) -> Result<Vec<u8>> {
    let image = std::fs::read(path).map_err(|e| VmError::io("reading", path, e))?;
    let bad = |reason: String| VmError::BzImage {
        path: path.to_owned(),
        reason,
    };
    let payload = payload(&image).map_err(bad)?;
    let elf = decompress(payload).map_err(|e| bad(e.to_string()))?;
    if !has_pvh_note(&elf).map_err(bad)? {
        return Err(bad(
            "its ELF kernel has no PVH entry note (Xen note 18)".into()
        ));
    }
    Ok(elf)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The compressed kernel, located through the x86 boot protocol's setup header
/// (Documentation/arch/x86/boot.rst: `payload_offset`/`payload_length`, protocol 2.08+).
fn payload(image: &[u8]) -> Result<&[u8], String> {
    if image.get(0x202..0x206) != Some(b"HdrS") {
        return Err("no x86 boot setup header (HdrS)".into());
    }
    let protocol = u16_at(image, 0x206).ok_or("truncated setup header")?;
    if protocol < 0x0208 {
        return Err(format!(
            "boot protocol {protocol:#06x} predates payload fields"
        ));
    }
    let setup_sectors = match image[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let protected_mode_start = (setup_sectors + 1) * 512;
    let offset = u32_at(image, 0x248).ok_or("truncated setup header")? as usize;
    let length = u32_at(image, 0x24c).ok_or("truncated setup header")? as usize;
    let start = protected_mode_start + offset;
    image
        .get(start..start + length)
        .ok_or_else(|| format!("payload {start}+{length} runs past the image's end"))
}

/// Decompresses the payload with the system tool for its format. Except gzip (whose trailer
/// already holds it), the kernel build appends the uncompressed size as 4 bytes, which the
/// tools would take for a second stream: cut it off, and check the result's length against it.
fn decompress(payload: &[u8]) -> Result<Vec<u8>> {
    let format_error = |reason: &str| VmError::Tool {
        command: "decompressing the kernel payload".into(),
        status: "unsupported".into(),
        stderr: reason.into(),
    };
    let (tool, args): (&str, &[&str]) = if payload.starts_with(&[0x1f, 0x8b]) {
        ("gzip", &["-dc"])
    } else if payload.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        ("xz", &["-dc", "--single-stream"])
    } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ("zstd", &["-dcq"])
    } else {
        return Err(format_error(
            "payload is not gzip, xz or zstd (lzma, bzip2 and lz4 kernels are not handled)",
        ));
    };
    let (stream, size_field) = payload.split_at(payload.len().saturating_sub(4));
    let expected = u32_at(size_field, 0).ok_or_else(|| format_error("payload too short"))?;
    let input = if tool == "gzip" { payload } else { stream };
    let elf = tools::filter(tool, args, input)?;
    if elf.len() as u64 % (1 << 32) != u64::from(expected) {
        return Err(format_error(&format!(
            "decompressed {} bytes, the image says {expected}",
            elf.len()
        )));
    }
    Ok(elf)
}

/// Whether a 64-bit little-endian ELF carries the PVH entry note in one of its PT_NOTE
/// segments.
pub(crate) fn has_pvh_note(elf: &[u8]) -> Result<bool, String> {
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return Err("decompressed payload is not a 64-bit little-endian ELF".into());
    }
    let truncated = || "truncated ELF header".to_owned();
    // A 64-bit offset or size of the file; one beyond the address space is past the end too.
    let offset_at = |at: usize| -> Result<usize, String> {
        let value = u64_at(elf, at).ok_or_else(truncated)?;
        usize::try_from(value).map_err(|_| format!("ELF offset or size {value:#x} past the end"))
    };
    let phoff = offset_at(0x20)?;
    let phentsize = usize::from(u16_at(elf, 0x36).ok_or_else(truncated)?);
    let phnum = usize::from(u16_at(elf, 0x38).ok_or_else(truncated)?);
    for index in 0..phnum {
        let header = index
            .checked_mul(phentsize)
            .and_then(|at| at.checked_add(phoff))
            .ok_or_else(truncated)?;
        if u32_at(elf, header).ok_or_else(truncated)? != PT_NOTE {
            continue;
        }
        let offset = offset_at(header + 0x08)?;
        let size = offset_at(header + 0x20)?;
        let notes = offset
            .checked_add(size)
            .and_then(|end| elf.get(offset..end))
            .ok_or("PT_NOTE segment past the end")?;
        if notes_contain_pvh(notes) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn notes_contain_pvh(mut notes: &[u8]) -> bool {
    let align4 = |n: usize| n.div_ceil(4) * 4;
    while let (Some(namesz), Some(descsz), Some(kind)) =
        (u32_at(notes, 0), u32_at(notes, 4), u32_at(notes, 8))
    {
        let name = notes.get(12..12 + namesz as usize);
        if kind == XEN_ELFNOTE_PHYS32_ENTRY && name == Some(b"Xen\0") {
            return true;
        }
        let next = 12 + align4(namesz as usize) + align4(descsz as usize);
        match notes.get(next..) {
            Some(rest) => notes = rest,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(u32::try_from(name.len()).unwrap().to_le_bytes());
        out.extend(u32::try_from(desc.len()).unwrap().to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(name);
        out.resize(out.len().div_ceil(4) * 4, 0);
        out.extend(desc);
        out.resize(out.len().div_ceil(4) * 4, 0);
        out
    }

    #[test]
    fn the_pvh_note_is_found_after_other_notes() {
        let mut notes = note(b"GNU\0", 3, &[1, 2, 3, 4, 5]);
        notes.extend(note(b"Xen\0", 18, &0x100_0000u32.to_le_bytes()));
        assert!(notes_contain_pvh(&notes));
    }

    #[test]
    fn a_xen_note_of_another_kind_is_not_pvh() {
        let notes = note(b"Xen\0", 5, b"linux\0");
        assert!(!notes_contain_pvh(&notes));
        assert!(!notes_contain_pvh(&notes[..7]));
    }

    #[test]
    fn a_non_elf_payload_is_rejected() {
        assert!(has_pvh_note(b"MZ not an elf").is_err());
    }

    #[test]
    fn an_image_without_setup_header_is_rejected() {
        assert!(payload(&[0u8; 1024]).is_err());
    }
}

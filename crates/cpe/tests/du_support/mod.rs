//! Software-module packages for tests: the reference execution environment's format
//! (`cwmp_cpe::du::package`), built in memory.

#![allow(dead_code)]

/// A package: manifest plus files, as tar (gzip-compressed when `gzip`).
pub fn package(name: &str, version: &str, eus: &[(&str, bool)], gzip: bool) -> Vec<u8> {
    let mut manifest = format!("name = \"{name}\"\nvendor = \"example.com\"\nversion = \"{version}\"\n");
    for (eu, auto_start) in eus {
        manifest.push_str(&format!("[[execution_unit]]\nname = \"{eu}\"\nauto_start = {auto_start}\n"));
    }
    let files: Vec<(&str, Vec<u8>)> =
        vec![("cwmp-du.toml", manifest.into_bytes()), ("bin/run.sh", format!("echo {name} {version}\n").into_bytes())];
    tarball(&files, gzip)
}

pub fn tarball(files: &[(&str, Vec<u8>)], gzip: bool) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Written raw, so that hostile names ("../x") can be built too.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    if !gzip {
        return tar;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &tar).unwrap();
    encoder.finish().unwrap()
}

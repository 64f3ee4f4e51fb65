//! `zvfs`: build and inspect Zero OS disk images; move data in and out as inecontainer and ASU
//! files.

fn main() -> std::process::ExitCode {
    eprintln!("zvfs: no commands yet");
    std::process::ExitCode::from(2)
}

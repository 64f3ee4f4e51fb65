//! The command table: the `help` text and the dispatch from a command's name to the code that
//! runs it. The commands themselves live in [`browse`](super::browse),
//! [`files`](super::files) and [`admin`](super::admin).

use kernel_abi::Kernel;

use super::{CmdError, Out, Shell};

const HELP: &str = "\
Commands (paths may be relative to the working directory):
  help                      this text
  pwd                       print the working directory
  cd [DIR]                  change the working directory (default /)
  ls [-l] [PATH...]         list directories; -l: kind+permissions, owner, size, modified
  tree [DIR]                draw the tree below DIR
  cat FILE...               print files
  echo [TEXT...]            print text; `echo hi > f` replaces f, `>> f` appends
  mkdir [-p] DIR...         create directories (-p: with parents, no error if present)
  rmdir [-r] DIR...         remove empty directories (-r: and everything below)
  rm [-r] PATH...           remove files and symlinks (-r: directories too)
  mv FROM TO                rename (into TO if TO is a directory)
  cp FROM TO                copy a file (into TO if TO is a directory)
  ln -s TARGET LINK         create a symbolic link
  readlink LINK             print a symlink's target
  stat PATH...              show metadata (of a symlink itself, not its target)
  chmod PERMS PATH...       PERMS: rwxrwrw form (owner rwx, system rw, world rw; - clear),
                            0x.. bits, or user-file|user-dir|system-only|world-readable|
                            system-public|all
  chown OWNER PATH...       OWNER: a user UUID, or `system`
  df                        space and entries used by the whole filesystem
  usage [PATH]              space and entries used below PATH (default .)
  quota [USER]              a user's quota; without USER, every user with a home
  mkhome USER               create a user's home (/home/USER)
  sync                      make sure every change so far is committed
  as NAME COMMAND...        run COMMAND (and its redirection) as identity task NAME: the
                            VFS judges that task's user and class, not the shell's
  shutdown                  power the machine off
Any command's output can be redirected with > FILE or >> FILE.
";

impl<K: Kernel> Shell<'_, K> {
    /// Runs command `cmd`, appending its output to `out`.
    pub fn command(&mut self, cmd: &str, args: &[&str], out: &mut Out<'_>) -> Result<(), CmdError> {
        match cmd {
            "help" => {
                out.push_str(HELP);
                Ok(())
            }
            "pwd" => {
                out.push_str(&self.cwd);
                out.push('\n');
                Ok(())
            }
            "cd" => self.cd(args),
            "ls" => self.ls(args, out),
            "tree" => self.tree(args, out),
            "cat" => self.cat(args, out),
            "echo" => {
                out.push_str(&args.join(" "));
                out.push('\n');
                Ok(())
            }
            "mkdir" => self.mkdir(args),
            "rmdir" => self.rmdir(args),
            "rm" => self.rm(args),
            "mv" => self.mv_cp(args, true),
            "cp" => self.mv_cp(args, false),
            "ln" => self.ln(args),
            "readlink" => self.readlink(args, out),
            "stat" => self.stat(args, out),
            "chmod" => self.chmod(args),
            "chown" => self.chown(args),
            "df" => self.df(args, out),
            "usage" => self.usage(args, out),
            "quota" => self.quota(args, out),
            "mkhome" => self.mkhome(args),
            "sync" => self.sync(),
            _ => Err(CmdError::Unknown),
        }
    }
}

//! The service registry: bounded name → endpoint bindings, with the credential checks of
//! `register`.
//!
//! Policy:
//! - Names come from two places: the system file's named endpoints (seeded at boot, owned by
//!   the endpoint's server) and `register` requests.
//! - A caller may register only an endpoint it serves (the kernel says who serves it).
//! - Registering a binding that already exists for the same endpoint is a harmless
//!   confirmation, whatever the caller's class (a Runtime service like the VFS may confirm the
//!   name the system file gave its endpoint).
//! - Any other registration needs a [`ProcessClass::System`] caller; Runtime and Application
//!   tasks get [`InitError::PermissionDenied`].
//! - A name bound to an endpoint stays bound across restarts of its server (the endpoint number
//!   does not change); a different endpoint for a taken name is [`InitError::AlreadyRegistered`].

use heapless::Vec;
use kernel_abi::{
    Credentials, EndpointId, ProcessClass, TaskId,
    init_proto::{InitError, ServiceName},
};

/// How many names the registry holds.
pub const CAPACITY: usize = 32;

/// One binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The service's name.
    pub name: ServiceName,
    /// Where it is served.
    pub endpoint: EndpointId,
    /// The incarnation that registered (or served it when seeded).
    pub owner: TaskId,
}

/// The registry.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Entry, CAPACITY>,
}

impl Registry {
    /// An empty registry.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Adds a binding from the system file (no credential check: the image is trusted).
    pub fn seed(
        &mut self,
        name: ServiceName,
        endpoint: EndpointId,
        server: TaskId,
    ) -> Result<(), InitError> {
        if self.lookup(&name).is_some() {
            return Err(InitError::AlreadyRegistered);
        }
        self.entries
            .push(Entry {
                name,
                endpoint,
                owner: server,
            })
            .map_err(|_| InitError::RegistryFull)
    }

    /// Handles a `register` request from `caller`; `server` is the task the kernel says serves
    /// `endpoint`.
    pub fn register(
        &mut self,
        caller: &Credentials,
        name: ServiceName,
        endpoint: EndpointId,
        server: TaskId,
    ) -> Result<(), InitError> {
        if server != caller.task {
            return Err(InitError::NotServer);
        }
        if let Some(entry) = self.entries.iter_mut().find(|e| e.name == name) {
            if entry.endpoint == endpoint {
                entry.owner = caller.task;
                return Ok(());
            }
            if caller.class != ProcessClass::System {
                return Err(InitError::PermissionDenied);
            }
            return Err(InitError::AlreadyRegistered);
        }
        if caller.class != ProcessClass::System {
            return Err(InitError::PermissionDenied);
        }
        self.entries
            .push(Entry {
                name,
                endpoint,
                owner: caller.task,
            })
            .map_err(|_| InitError::RegistryFull)
    }

    /// The endpoint bound to `name`.
    pub fn lookup(&self, name: &ServiceName) -> Option<EndpointId> {
        self.entries
            .iter()
            .find(|e| e.name == *name)
            .map(|e| e.endpoint)
    }

    /// Every binding.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_abi::UserId;

    fn creds(index: u16, class: ProcessClass) -> Credentials {
        Credentials {
            task: TaskId {
                index,
                generation: 0,
            },
            user: None,
            class,
        }
    }

    fn name(s: &str) -> ServiceName {
        match ServiceName::new(s.as_bytes()) {
            Ok(n) => n,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    #[test]
    fn system_task_registers_and_anyone_looks_up() {
        let mut r = Registry::new();
        let sys = creds(2, ProcessClass::System);
        assert_eq!(
            r.register(&sys, name("shell"), EndpointId(4), sys.task),
            Ok(())
        );
        assert_eq!(r.lookup(&name("shell")), Some(EndpointId(4)));
        assert_eq!(r.lookup(&name("vfs")), None);
    }

    #[test]
    fn non_system_register_is_refused() {
        let mut r = Registry::new();
        for class in [ProcessClass::Runtime, ProcessClass::Application] {
            let mut c = creds(3, class);
            c.user = Some(UserId::from_u128(1));
            assert_eq!(
                r.register(&c, name("evil"), EndpointId(5), c.task),
                Err(InitError::PermissionDenied)
            );
        }
        assert_eq!(r.lookup(&name("evil")), None);
    }

    #[test]
    fn only_the_server_of_an_endpoint_registers_it() {
        let mut r = Registry::new();
        let sys = creds(2, ProcessClass::System);
        let other = TaskId {
            index: 9,
            generation: 0,
        };
        assert_eq!(
            r.register(&sys, name("vfs"), EndpointId(1), other),
            Err(InitError::NotServer)
        );
    }

    #[test]
    fn seeded_names_can_be_confirmed_but_not_stolen() {
        let mut r = Registry::new();
        let vfs = creds(1, ProcessClass::Runtime);
        assert_eq!(r.seed(name("vfs"), EndpointId(1), vfs.task), Ok(()));
        // The VFS (Runtime) confirms its system-file binding, also after a restart.
        let mut restarted = vfs;
        restarted.task = vfs.task.next_generation();
        assert_eq!(
            r.register(&restarted, name("vfs"), EndpointId(1), restarted.task),
            Ok(())
        );
        assert_eq!(r.entries()[0].owner, restarted.task);
        // A system task cannot take the name for another endpoint.
        let sys = creds(2, ProcessClass::System);
        assert_eq!(
            r.register(&sys, name("vfs"), EndpointId(7), sys.task),
            Err(InitError::AlreadyRegistered)
        );
        let app = creds(3, ProcessClass::Application);
        assert_eq!(
            r.register(&app, name("vfs"), EndpointId(8), app.task),
            Err(InitError::PermissionDenied)
        );
        assert_eq!(r.lookup(&name("vfs")), Some(EndpointId(1)));
    }

    #[test]
    fn the_registry_is_bounded() {
        let mut r = Registry::new();
        let sys = creds(2, ProcessClass::System);
        for i in 0..CAPACITY {
            let n = format!("svc{i}");
            assert_eq!(
                r.register(&sys, name(&n), EndpointId(i as u16), sys.task),
                Ok(())
            );
        }
        assert_eq!(
            r.register(&sys, name("one-too-many"), EndpointId(99), sys.task),
            Err(InitError::RegistryFull)
        );
        assert_eq!(
            r.seed(name("seeded"), EndpointId(98), sys.task),
            Err(InitError::RegistryFull)
        );
    }
}

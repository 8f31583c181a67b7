//! A sysfs attribute's write path, as lockdep sees it.
//!
//! `sysfs_write_file()` takes the open file's `&buffer->mutex`, then `sysfs_get_active()`
//! takes an active reference on the attribute (`s_active`), which lockdep annotates as a
//! non-recursive read taken by trylock (`rwsem_acquire_read(&sd->dep_map, 0, 1, ..)`), and
//! runs the store method. Each attribute has a lockdep key of its own, so each is a class of
//! its own; lockdep tells the classes apart by a name version, `s_active#N`, N counting the
//! classes named `s_active` in the order they were registered since boot.
//!
//! Being a trylock, `s_active` gets no dependency *to* it: 2013 lockdep records
//! `&buffer->mutex -> &mem->state_mutex`, never `&buffer->mutex -> s_active#N` (lockdep-rs's
//! [`RwLock::try_read`] is the same non-recursive read trylock). It can fail only while the
//! attribute is being removed (`-ENODEV`), which the model never does.

use crate::Errno;
use lockdep::{Mutex, RwLock};

/// One attribute: the open file's buffer mutex and the attribute's `s_active` map.
pub(crate) struct SysfsAttr {
    buffer: Mutex<()>,
    s_active: RwLock<()>,
}

/// Every sysfs buffer mutex is made here, so they share one class, as in the kernel.
fn buffer_mutex() -> Mutex<()> {
    Mutex::named("&buffer->mutex", ())
}

impl SysfsAttr {
    /// The attribute whose `s_active` is `s_active` (built at the caller's site: one class per
    /// attribute). The buffer mutex is registered with lockdep at once: there is one per open
    /// file, so its class must never pass for a single lock (a gate, see
    /// [`lockdep::Report::gates`]) just because only one of them has been written to yet.
    pub(crate) fn new(s_active: RwLock<()>) -> SysfsAttr {
        let attr = SysfsAttr {
            buffer: buffer_mutex(),
            s_active,
        };
        attr.buffer.register();
        attr
    }

    /// `sysfs_write_file()`: runs the attribute's store method under both; `NoDev` if the
    /// active reference can't be had.
    pub(crate) fn store<T>(&self, store: impl FnOnce() -> Result<T, Errno>) -> Result<T, Errno> {
        let _buffer = self.buffer.lock();
        let Some(_active) = self.s_active.try_read() else {
            return Err(Errno::NoDev);
        };
        store()
    }
}

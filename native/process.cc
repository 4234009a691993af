#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace epoxy {

namespace {

// JS: setParentDeathSignal(signal: number). 0 clears it. Note the kernel's rule: the signal is
// sent when the *thread* that forked us exits, which for a Node parent is its main thread.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t sig;
  if (!ArgInt(info, 0, "signal", &sig)) return env.Undefined();
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0) < 0) {
    ThrowSystemError(env, errno, "prctl(PR_SET_PDEATHSIG)");
  }
  return env.Undefined();
}

// JS: getParentDeathSignal() -> number (0 when none)
Napi::Value GetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sig = 0;
  if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) < 0) {
    ThrowSystemError(env, errno, "prctl(PR_GET_PDEATHSIG)");
    return env.Undefined();
  }
  return Napi::Number::New(env, sig);
}

// RLIM_INFINITY does not fit a JS number exactly; it crosses as -1.
double LimitToJs(rlim_t value) { return value == RLIM_INFINITY ? -1 : static_cast<double>(value); }

// JS: getNofileLimit() -> { soft, hard }
Napi::Value GetNofileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
    ThrowSystemError(env, errno, "getrlimit(RLIMIT_NOFILE)");
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", LimitToJs(limit.rlim_cur));
  out.Set("hard", LimitToJs(limit.rlim_max));
  return out;
}

// JS: setNofileLimit(soft, hard = current hard)
Napi::Value SetNofileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
    ThrowSystemError(env, errno, "getrlimit(RLIMIT_NOFILE)");
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "setNofileLimit(soft, hard?) expects numbers");
    return env.Undefined();
  }
  double soft = info[0].As<Napi::Number>().DoubleValue();
  limit.rlim_cur = soft < 0 ? RLIM_INFINITY : static_cast<rlim_t>(soft);
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "setNofileLimit: the hard limit must be a number");
      return env.Undefined();
    }
    double hard = info[1].As<Napi::Number>().DoubleValue();
    limit.rlim_max = hard < 0 ? RLIM_INFINITY : static_cast<rlim_t>(hard);
  }
  if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
    ThrowSystemError(env, errno, "setrlimit(RLIMIT_NOFILE)");
  }
  return env.Undefined();
}

// JS: setCloexec(fd, on: boolean). F_GETFD/F_SETFD only touch FD_CLOEXEC; the read-modify-write
// keeps any other descriptor flag the kernel may add.
Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  bool on = info.Length() < 2 || info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFD)");
    return env.Undefined();
  }
  int wanted = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (wanted != flags && fcntl(fd, F_SETFD, wanted) < 0) {
    ThrowSystemError(env, errno, "fcntl(F_SETFD)");
  }
  return env.Undefined();
}

// JS: getCloexec(fd) -> boolean
Napi::Value GetCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFD)");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, (flags & FD_CLOEXEC) != 0);
}

// JS: setNonBlocking(fd, on: boolean). Read-modify-write of the status flags: HAProxy's
// F_SETFL with O_NONBLOCK alone would clear O_APPEND and friends on an inherited fd.
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  bool on = info.Length() < 2 || info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFL)");
    return env.Undefined();
  }
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) < 0) {
    ThrowSystemError(env, errno, "fcntl(F_SETFL)");
  }
  return env.Undefined();
}

// JS: isNonBlocking(fd) -> boolean
Napi::Value IsNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    ThrowSystemError(env, errno, "fcntl(F_GETFL)");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, (flags & O_NONBLOCK) != 0);
}


// capset(2) has no glibc wrapper; version 3 carries two 32-bit words per set.
int SetCapabilities(uint64_t keep) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  for (int word = 0; word < 2; word++) {
    uint32_t bits = static_cast<uint32_t>(keep >> (32 * word));
    data[word].effective = bits;
    data[word].permitted = bits;
    data[word].inheritable = 0;
  }
  return static_cast<int>(syscall(SYS_capset, &header, data));
}

// JS: dropPrivileges({ chroot?: string, gid?: number, groups?: number[], uid?: number,
//                      keepCapabilities?: number[] })
// The order is the only safe one: chroot while still root, then the supplementary groups and
// the gid while we may still change them, then the uid, which is the step that gives up the
// right to do any of the others. PR_SET_KEEPCAPS makes the kernel keep the permitted set across
// setuid() so that the capabilities asked for (CAP_NET_ADMIN for transparent binds) can be made
// effective again, and everything else is dropped by the capset() that follows. glibc applies
// set*id() to every thread of the process (Node has several), so no thread keeps root.
// The kernel clears PR_SET_PDEATHSIG when credentials change: callers set it again afterwards.
Napi::Value DropPrivileges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "dropPrivileges expects an options object");
    return env.Undefined();
  }
  Napi::Object options = info[0].As<Napi::Object>();
  auto optionalInt = [&](const char* name, int64_t* out) -> bool {
    Napi::Value value = options.Get(name);
    if (value.IsUndefined() || value.IsNull()) return true;
    if (!value.IsNumber()) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", std::string("dropPrivileges: ") + name + " must be a number");
      return false;
    }
    double number = value.As<Napi::Number>().DoubleValue();
    if (number < 0 || number > 4294967294.0) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", std::string("dropPrivileges: ") + name + " is out of range");
      return false;
    }
    *out = static_cast<int64_t>(number);
    return true;
  };
  int64_t uid = -1, gid = -1;
  if (!optionalInt("uid", &uid) || !optionalInt("gid", &gid)) return env.Undefined();

  std::vector<gid_t> groups;
  bool setGroups = false;
  Napi::Value groupsValue = options.Get("groups");
  if (groupsValue.IsArray()) {
    Napi::Array array = groupsValue.As<Napi::Array>();
    setGroups = true;
    for (uint32_t i = 0; i < array.Length(); i++) {
      Napi::Value g = array.Get(i);
      if (!g.IsNumber() || g.As<Napi::Number>().DoubleValue() < 0) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "dropPrivileges: groups must be numbers");
        return env.Undefined();
      }
      groups.push_back(static_cast<gid_t>(g.As<Napi::Number>().DoubleValue()));
    }
  } else if (!groupsValue.IsUndefined() && !groupsValue.IsNull()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "dropPrivileges: groups must be an array");
    return env.Undefined();
  }

  uint64_t keep = 0;
  Napi::Value capsValue = options.Get("keepCapabilities");
  if (capsValue.IsArray()) {
    Napi::Array array = capsValue.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++) {
      Napi::Value c = array.Get(i);
      if (!c.IsNumber()) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "dropPrivileges: keepCapabilities must be numbers");
        return env.Undefined();
      }
      int32_t cap = c.As<Napi::Number>().Int32Value();
      if (cap < 0 || cap > 63) {
        ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "dropPrivileges: a capability number is out of range");
        return env.Undefined();
      }
      keep |= uint64_t{1} << cap;
    }
  }

  Napi::Value chrootValue = options.Get("chroot");
  if (chrootValue.IsString()) {
    std::string dir = chrootValue.As<Napi::String>().Utf8Value();
    if (chroot(dir.c_str()) < 0) {
      ThrowSystemError(env, errno, "chroot");
      return env.Undefined();
    }
    // Without it the old working directory stays reachable outside the new root.
    if (chdir("/") < 0) {
      ThrowSystemError(env, errno, "chdir");
      return env.Undefined();
    }
  }
  if (setGroups && setgroups(groups.size(), groups.data()) < 0) {
    ThrowSystemError(env, errno, "setgroups");
    return env.Undefined();
  }
  if (gid >= 0 && setgid(static_cast<gid_t>(gid)) < 0) {
    ThrowSystemError(env, errno, "setgid");
    return env.Undefined();
  }
  if (uid >= 0) {
    if (keep != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
      ThrowSystemError(env, errno, "prctl(PR_SET_KEEPCAPS)");
      return env.Undefined();
    }
    if (setuid(static_cast<uid_t>(uid)) < 0) {
      ThrowSystemError(env, errno, "setuid");
      return env.Undefined();
    }
    if (keep != 0) {
      if (SetCapabilities(keep) < 0) {
        ThrowSystemError(env, errno, "capset");
        return env.Undefined();
      }
      if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
        ThrowSystemError(env, errno, "prctl(PR_SET_KEEPCAPS)");
        return env.Undefined();
      }
    }
  }
  return env.Undefined();
}

// JS: detachStdio(). A daemon's stdin, stdout and stderr become /dev/null: the terminal or the
// pipe of whoever launched it may be gone, and a write there would fail (or raise SIGPIPE).
// dup2() replaces each atomically, so fds 0-2 are never free for another open() to take.
Napi::Value DetachStdio(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) {
    ThrowSystemError(env, errno, "open(/dev/null)");
    return env.Undefined();
  }
  for (int fd = 0; fd <= 2; fd++) {
    if (dup2(null, fd) < 0) {
      int err = errno;
      close(null);
      ThrowSystemError(env, err, "dup2");
      return env.Undefined();
    }
  }
  if (null > 2) {
    close(null);
  } else if (fcntl(null, F_SETFD, 0) < 0) {
    // open() took a free fd among 0-2 itself: it stays as that stream, so not close-on-exec.
    ThrowSystemError(env, errno, "fcntl(F_SETFD)");
  }
  return env.Undefined();
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  exports.Set("getParentDeathSignal", Napi::Function::New(env, GetParentDeathSignal, "getParentDeathSignal"));
  exports.Set("getNofileLimit", Napi::Function::New(env, GetNofileLimit, "getNofileLimit"));
  exports.Set("setNofileLimit", Napi::Function::New(env, SetNofileLimit, "setNofileLimit"));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec, "setCloexec"));
  exports.Set("getCloexec", Napi::Function::New(env, GetCloexec, "getCloexec"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("isNonBlocking", Napi::Function::New(env, IsNonBlocking, "isNonBlocking"));
  exports.Set("dropPrivileges", Napi::Function::New(env, DropPrivileges, "dropPrivileges"));
  exports.Set("detachStdio", Napi::Function::New(env, DetachStdio, "detachStdio"));
}

}  // namespace epoxy

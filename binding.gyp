# The addon's sources and defines live in native/sources.txt and native/defines.txt, read by both
# this file and CMakeLists.txt, so node-gyp and cmake-js cannot build different addons.
# test/build/build-parity.test.ts checks that both still read them and that no source is missing.
{
  'targets': [
    {
      'target_name': 'epoxy',
      'sources': [ '<!@(cat native/sources.txt)' ],
      'include_dirs': [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      'defines': [ '<!@(cat native/defines.txt)' ],
      # Spelled out rather than inherited: the common.gypi of Node builds differ (some drop
      # -fno-exceptions or pick -std=c++17). CMakeLists.txt compiles with exactly these.
      'cflags_cc!': [ '-std=c++17' ],
      'cflags_cc': [ '-std=gnu++17', '-fno-exceptions', '-fno-rtti',
                     '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter' ],
    }
  ]
}

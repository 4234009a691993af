/**
 * node-gyp (binding.gyp) and cmake-js (CMakeLists.txt) must build the same addon: both read the
 * source list and the defines from native/sources.txt and native/defines.txt, and compile with the
 * same language mode and warning flags. This fails the moment either file stops doing so, or a
 * native source is added without being listed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.js';

const read = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8');
const lines = (path: string): string[] => read(path).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe('build parity between binding.gyp and CMakeLists.txt', () => {
  const gyp = read('binding.gyp');
  const cmake = read('CMakeLists.txt');

  it('both take their sources from native/sources.txt and nothing else', () => {
    expect(gyp).toContain("'sources': [ '<!@(cat native/sources.txt)' ]");
    expect(cmake).toMatch(/file\(STRINGS "\$\{CMAKE_CURRENT_SOURCE_DIR\}\/native\/sources\.txt" EPOXY_SOURCES\)/);
    expect(cmake).toMatch(/add_library\(\$\{PROJECT_NAME\} SHARED \$\{EPOXY_SOURCES\} \$\{CMAKE_JS_SRC\}\)/);
  });

  it('both take their defines from native/defines.txt, which pins NAPI_VERSION and no C++ exceptions', () => {
    expect(gyp).toContain("'defines': [ '<!@(cat native/defines.txt)' ]");
    expect(cmake).toContain('target_compile_definitions(${PROJECT_NAME} PRIVATE ${EPOXY_DEFINES})');
    const defines = lines('native/defines.txt');
    expect(defines).toContain('NAPI_VERSION=8');
    expect(defines).toContain('NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS');
    const pkg = JSON.parse(read('package.json')) as { binary: { napi_versions: number[] } };
    expect(pkg.binary.napi_versions).toEqual([8]);
  });

  it('native/sources.txt lists exactly the .cc files in native/', () => {
    const listed = lines('native/sources.txt').sort();
    const present = readdirSync(`${ROOT}native`).filter((f) => f.endsWith('.cc')).map((f) => `native/${f}`).sort();
    expect(listed).toEqual(present);
  });

  it('both compile gnu++17 without exceptions or RTTI, with warnings as errors', () => {
    for (const flag of ['-std=gnu++17', '-fno-exceptions', '-fno-rtti', '-Wall', '-Wextra', '-Werror']) {
      expect(gyp).toContain(`'${flag}'`);
    }
    expect(cmake).toContain('set(CMAKE_CXX_STANDARD 17)');
    expect(cmake).toContain('set(CMAKE_CXX_EXTENSIONS ON)');
    for (const flag of ['-fno-exceptions', '-fno-rtti', '-Wall', '-Wextra', '-Werror']) {
      expect(cmake).toContain(flag);
    }
  });
});

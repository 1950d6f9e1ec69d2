// Published manifests carry no devDependencies: they name private workspace packages (test helpers)
// that are not on the registry, and an installed package never needs them.
module.exports = {
  hooks: {
    beforePacking(manifest) {
      delete manifest.devDependencies;
      return manifest;
    },
  },
};

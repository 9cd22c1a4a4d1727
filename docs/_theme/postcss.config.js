module.exports = { plugins: { 'postcss-import': {} } };

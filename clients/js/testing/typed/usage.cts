// The same package through require() (the "require" condition: cjs/index.js and cjs/index.d.ts),
// compiled by test/types.test.js with `tsc --noEmit --strict`. Never run.
import kit = require('@sts-broker/upload-kit');

declare const tt: kit.DouyinApi;

export async function viaRequire(): Promise<string> {
  const result: kit.UploadResult = await kit.uploadWithDouyin(tt, {
    brokerUrl: 'https://broker.example.com', filePath: 'ttfile://tmp/a.png', profile: 'avatar', mode: 'server',
  });
  const form: kit.PostForm = await kit.createPostForm({ mode: 'sts', fetch: kit.requestFetch(tt, 'douyin') });
  const read: kit.ObjectUrl = await kit.uploadWithDouyin.getUrl(tt, result.key, { filename: 'a.png' });
  const urls: kit.ObjectUrls = await kit.getUrls([result.key], { expires: 60 });
  if (result.callback !== undefined) return JSON.stringify(result.callback);
  if (read.expire < urls.expire) return read.url;
  return `${result.key} ${form.key} ${kit.V4_ALGORITHM}`;
}

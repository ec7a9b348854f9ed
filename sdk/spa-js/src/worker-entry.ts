import { postForm } from './http.js';
import { tokenWorker } from './worker.js';

// Entry of dist/ratchet-spa.worker.js, the token worker as a same-origin file for the `workerUrl` option.
tokenWorker(postForm);

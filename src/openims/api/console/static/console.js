// The OpenIMS console's only script: the upload of an image file with a progress bar.
// The browser streams the chosen File as the request body (XMLHttpRequest reads it from disk
// as it sends; nothing holds the whole file), to the console's upload route, which checks the
// session cookie and the CSRF token this page carries, and streams into the image store.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-file");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files && input.files[0];
    if (!file) {
      status.textContent = "Choose a file first.";
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", form.dataset.url);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    status.textContent = "Uploading " + file.name + "…";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
        bar.setAttribute("aria-valuetext", bar.value + " percent");
      }
    });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      if (xhr.status === 204) {
        bar.value = 100;
        status.textContent = "Uploaded. Checking the file…";
        window.location.assign(form.dataset.done);
        return;
      }
      let message = "The upload failed (" + xhr.status + ").";
      try {
        message = JSON.parse(xhr.responseText).message || message;
      } catch (_) { /* not JSON: keep the status */ }
      status.textContent = message;
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      status.textContent = "The upload was interrupted; the image is unchanged.";
    });
    xhr.send(file);
  });
});

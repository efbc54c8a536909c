/* Test only: tells the parent the scripts before this one have run (messages from one
   window arrive in the order sent), so a test can tell "frame.js sent nothing". */
window.parent.postMessage({ type: "test:done" }, "*");

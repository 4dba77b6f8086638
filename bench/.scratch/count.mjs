import net from "node:net";
let writes = 0; const orig = net.Socket.prototype.write;
net.Socket.prototype.write = function (...a) { writes++; return orig.apply(this, a); };
process.on("exit", () => console.error("socket writes", writes));
await import(process.argv[2]);

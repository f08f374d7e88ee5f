// Placeholder until the NATS harness lands: starts nothing.
export default function setup(): void {}

// Makes, in the folder given as argument, the NATS credentials the end-to-end tests use
// (nsc is not packaged for Debian):
//   nkey.seed / nkey.pub            a user NKey for `authorization { users: [{nkey}] }`
//   operator.conf                   operator mode: the operator's JWT, a system account and
//                                   an account with JetStream, preloaded (resolver: MEMORY)
//   user.creds                      a user of that account (user JWT + seed)
//   stranger.creds                  a user signed by an account the server does not know
"use strict";
const fs = require("fs");
const path = require("path");
const nkeys = require("nkeys.js");
const jwt = require("@nats-io/jwt");

async function main() {
    const dir = process.argv[2];
    if (!dir) throw new Error("usage: node make-auth.js DIR");
    const dec = (b) => new TextDecoder().decode(b);
    const write = (name, text) => fs.writeFileSync(path.join(dir, name), text, { mode: 0o600 });

    const user = nkeys.createUser();
    write("nkey.seed", dec(user.getSeed()) + "\n");
    write("nkey.pub", user.getPublicKey() + "\n");

    const operator = jwt.createOperator();
    const sys = jwt.createAccount();
    const account = jwt.createAccount();
    // Every limit given (an account JWT's missing limits are 0, not unlimited).
    const unlimited = {
        subs: -1, conn: -1, leaf: -1, imports: -1, exports: -1, data: -1, payload: -1,
        wildcards: true, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1,
    };
    const operatorJwt = await jwt.encodeOperator("nomnom-test", operator, {
        system_account: sys.getPublicKey(),
    });
    const sysJwt = await jwt.encodeAccount("SYS", sys, {}, { signer: operator });
    const accountJwt = await jwt.encodeAccount(
        "NOMNOM", account, { limits: { ...unlimited } }, { signer: operator });
    write("operator.jwt", operatorJwt + "\n");
    write("operator.conf",
          `operator: "${path.join(dir, "operator.jwt")}"\n` +
          `system_account: ${sys.getPublicKey()}\n` +
          `resolver: MEMORY\n` +
          `resolver_preload: {\n` +
          `  ${sys.getPublicKey()}: "${sysJwt}"\n` +
          `  ${account.getPublicKey()}: "${accountJwt}"\n` +
          `}\n`);

    const u = jwt.createUser();
    const userJwt = await jwt.encodeUser("nomnom", u, account);
    write("user.creds", dec(jwt.fmtCreds(userJwt, u)));

    const strangerAccount = jwt.createAccount();
    const s = jwt.createUser();
    const strangerJwt = await jwt.encodeUser("stranger", s, strangerAccount);
    write("stranger.creds", dec(jwt.fmtCreds(strangerJwt, s)));
}

main().catch((e) => {
    console.error("make-auth.js: " + (e && e.message ? e.message : e));
    process.exit(1);
});
